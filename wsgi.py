"""What gunicorn serves: ``gunicorn wsgi:app``; the CLI: ``flask --app wsgi ...``."""

from server import create_app

app = create_app()
