"""The Pulumi program's building blocks: validated settings, the image, the function and the streaming API."""
