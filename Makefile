# The two commands of the README's quick start.
.PHONY: dev test bench package
dev:
	bash infra/dev.sh
test:
	bash infra/test.sh
bench:
	bash infra/bench.sh
package:
	bash infra/package.sh
