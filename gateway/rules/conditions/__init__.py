"""One module per condition kind; each holds its compiled rule and its state type."""
