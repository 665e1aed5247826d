"""photoclip's data files, installed as the package photoclip.resources (see README.md here).

The app reads them with importlib.resources.files("photoclip.resources"): default label sets,
prompt templates, the icon.
"""
