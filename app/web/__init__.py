"""The web plumbing every area uses: Flask extensions, login and roles (`auth`), the input-error type and
its handlers (`errors`), security headers, the session cookie, upload limits, BokehJS assets, spectrogram
images, and the health and Prometheus endpoints."""
