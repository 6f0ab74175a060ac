"""articleqa: question answering over news articles with checked citations."""

__version__ = "0.1.0"
