"""The chat's logic below its Gradio layout (app.py): rendering and the backend."""
