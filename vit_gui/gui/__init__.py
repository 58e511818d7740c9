"""The desktop window (PySide6). It arranges widgets and delegates every computation."""
