from podtap.cli.main import app

app(prog_name="podtap")
