# Wallets. Included by the Makefile (`-include mk/*.mk`).

.PHONY: check-state

# Stop the server first: the check reads a copy, and a live copy may be caught mid-checkpoint.
## check-state: replay the wallets' ledger in state/ and compare it with the balances
check-state: build
	$(BIN_DIR)/feira-server check --data $(STATE)
