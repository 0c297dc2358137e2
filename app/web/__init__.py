"""The web plumbing every area uses: Flask extensions, the input-error type and its handlers, security
headers, the session cookie, upload limits, BokehJS assets, spectrogram images, and the health and
Prometheus endpoints."""
