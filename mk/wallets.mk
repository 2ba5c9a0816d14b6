# Wallets. Included by the Makefile (`-include mk/*.mk`).

.PHONY: check-state

# Replay the wallets' ledger of the served data and compare it with the balances.
# Stop the server first: the check reads a copy, and a live copy may be caught mid-checkpoint.
check-state: build
	./target/release/feira-server check --data $(STATE)
