# The two commands of the README's quick start (`dev`, `test`), the fast tier
# (`check`: no local stack) and the installs they share (`setup`, which `dev`
# and `test` run themselves).
.PHONY: dev test check setup smoke bench bench-sweep bench-nonces bench-cold bench-peers bench-year sweep drift-check package
dev:
	bash infra/dev.sh
test:
	bash infra/test.sh
check:
	bash infra/check.sh
setup:
	bash infra/setup.sh
# A hostname's whole life against a deployment (docs/operations.md, "Smoke
# test"): API_URL, TOKEN_COMMAND ({org}), PUBLISH_TXT ({name}, {value});
# SMOKE_FLAGS=--tls on a real one.
smoke:
	python3 infra/smoke.py --api "$(API_URL)" --token-command '$(TOKEN_COMMAND)' --publish-txt '$(PUBLISH_TXT)' $(SMOKE_FLAGS)
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
bench-year:
	bash infra/bench.sh year
sweep:
	bash infra/sweep.sh
drift-check:
	bash infra/sweep.sh drift-check
package:
	bash infra/package.sh
