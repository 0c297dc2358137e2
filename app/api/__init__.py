"""The versioned JSON API (/api/v1): its blueprint (`blueprint`), how areas declare routes (`routes`),
the OpenAPI document (`openapi`) and the request-argument helpers every area shares (`args`)."""
