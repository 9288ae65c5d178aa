from wangge.cli import app

app()
