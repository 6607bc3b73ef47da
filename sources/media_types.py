"""The media types documents are parsed as (what connectors declare and parsers dispatch on)."""

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
JSON = "application/json"
CSV = "text/csv"
CODE = "text/x-code"
# What the tickets connector yields: one record, already mapped to title/sections/fields.
TICKET = "application/vnd.rag.ticket+json"
