# The web door's browser: headless Chromium for tests/dashboard_browser.rs (an optional
# door of `make test`: without it that test is SKIPPED, except under CI where .ci/run
# installs it), and the dashboard screenshots in docs/.

.PHONY: browser dashboard-screenshots

## browser: install Debian's chromium (headless) for the dashboard's browser test (root, apt)
browser:
	command -v chromium >/dev/null || { apt-get update && apt-get install -y --no-install-recommends chromium; }

## dashboard-screenshots: docs/dashboard-{1,50,500}.png, the dashboard while feira-bench runs (a minute)
dashboard-screenshots: browser
	$(CARGO) build --release --bins
	python3 scripts/dashboard_screenshots.py
