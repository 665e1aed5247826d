"""The Qt-free core of photoclip: catalog, imaging, encoder, vectors, indexer, search."""
