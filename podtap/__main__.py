from podtap.cli.main import app

app()
