"""Images in, fingerprints out: readers, probe networks, specs and histograms."""
