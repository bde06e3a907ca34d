"""The domain: cases, request types, deadlines and the rules between them. No I/O here."""
