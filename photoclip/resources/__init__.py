"""Data files the app reads at run time (default label sets, prompt templates).

Found with importlib.resources.files("photoclip.resources"), which works from a source checkout,
an editable install, a wheel and a frozen (PyInstaller) build alike.
"""
