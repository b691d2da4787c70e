"""Model artifacts (registry + manager) and the face-recognition extractors built on them."""
