# The two commands of the README's quick start.
.PHONY: dev test bench bench-sweep bench-nonces bench-cold bench-peers sweep check-domains package
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
bench-cold:
	bash infra/bench.sh cold
bench-peers:
	bash infra/bench.sh peers
sweep:
	bash infra/sweep.sh
check-domains:
	bash infra/sweep.sh check-domains
package:
	bash infra/package.sh
