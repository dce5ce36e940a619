# The two commands of the README's quick start.
.PHONY: dev test
dev:
	bash infra/dev.sh
test:
	bash infra/test.sh
