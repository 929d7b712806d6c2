"""Screen capture: grabbing, window info, privacy gates, change detection and OCR backends."""
