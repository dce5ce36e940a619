# The two commands of the README's quick start.
.PHONY: dev test bench bench-sweep bench-nonces sweep check-domains package
dev:
	bash infra/dev.sh
test:
	bash infra/test.sh
bench:
	bash infra/bench.sh
bench-sweep:
	bash infra/bench.sh sweep
bench-nonces:
	bash infra/bench.sh nonces
sweep:
	bash infra/sweep.sh
check-domains:
	bash infra/sweep.sh check-domains
package:
	bash infra/package.sh
