"""The network and what runs it: architectures, weights on disk, preprocessing, the Classifier, the
not-MRI gate, Grad-CAM."""
