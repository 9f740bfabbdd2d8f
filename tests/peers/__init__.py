"""Real peers (Orthanc, DCMTK, pynetdicom SCPs) and network namespaces."""
