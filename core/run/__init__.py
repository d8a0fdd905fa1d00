"""A run folder and the runs the app serves: file names, paths, model facts, copies of training images."""
