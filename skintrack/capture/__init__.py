"""Taking a photo in: decoding, the face and its alignment, the quality gate, the measurements."""
