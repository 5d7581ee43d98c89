"""Recording live streams: following the live (or in-progress VOD) playlist into one file per stream."""
