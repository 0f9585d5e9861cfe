# Shortcuts for the scripts README.md documents.
.PHONY: demo test
demo:
	scripts/demo
test:
	scripts/test
