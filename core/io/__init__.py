"""Reading scans: files, DICOM, NIfTI, ZIPs, what a file is and what its tags say."""
