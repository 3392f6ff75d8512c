// The browser half of the test: builds the two phone pages with esbuild,
// serves them on loopback, starts Debian's chromium through playwright-core
// and plays the call scenario by clicking the phones' buttons.  It asserts
// nothing about EPSIP: it reports every step it got through, and what the
// phones saw, as JSON lines on stdout; test_browser_phones.py judges.
//
//   node driver.mjs CONFIG.json
//
// CONFIG: { chromium, home, untrustedHome, wss, origin, statsPort,
//           aors: {jssip, sipjs}, calls: [{caller, callee, hangup}],
//           work, results, stepTimeoutMs }
// stdout, one JSON object a line:
//   {"step": NAME, "ok": true, "ms": N}           a step done
//   {"flows": {...}, "when": NAME}                 GET /flows?transport=wss
//   {"untrusted": {...}}                           the check without the CA
//   {"screenshot": PATH}
//   {"failed": NAME, "error": TEXT, "phones": {...}}   and exit 1
//   {"phones": {jssip: {...}, sipjs: {...}}}       at the end, exit 0
import { createServer } from 'node:http';
import { readFileSync, writeFileSync, mkdirSync, copyFileSync, readdirSync }
    from 'node:fs';
import { join, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as esbuild from 'esbuild';
import { chromium } from 'playwright-core';

const HERE = dirname(fileURLToPath(import.meta.url));
const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const LIBS = { jssip: 'JsSIP', sipjs: 'SIP.js' };
const CALL_UP = ['confirmed', 'established'];
const CALL_DOWN = ['ended', 'terminated'];
const CALL_FAILED = ['failed'];
const ICE_UP = ['connected', 'completed'];

const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

class StepError extends Error {
	constructor(step, why) {
		super(`${step}: ${why}`);
		this.step = step;
	}
}

function version(pkg) {
	return JSON.parse(readFileSync(join(HERE, 'node_modules', pkg,
	    'package.json'), 'utf8')).version;
}

// The pages: the HTML and CSS as they are, one bundle per library.
async function buildPages(out) {
	mkdirSync(out, { recursive: true });
	for (const f of readdirSync(join(HERE, 'pages')))
		copyFileSync(join(HERE, 'pages', f), join(out, f));
	await esbuild.build({
		entryPoints: {
			jssip: join(HERE, 'src', 'jssip-phone.js'),
			sipjs: join(HERE, 'src', 'sipjs-phone.js'),
		},
		bundle: true,
		format: 'iife',
		platform: 'browser',
		target: 'chrome120',
		outdir: out,
		logLevel: 'warning',
		define: {
			__JSSIP_VERSION__: JSON.stringify(version('jssip')),
			__SIPJS_VERSION__: JSON.stringify(version('sip.js')),
		},
	});
}

const TYPES = { '.html': 'text/html', '.js': 'text/javascript',
    '.css': 'text/css' };

function serve(dir, port) {
	const server = createServer((req, res) => {
		const name = new URL(req.url, 'http://x').pathname.slice(1) ||
		    'index.html';
		if (name === 'favicon.ico') {
			res.writeHead(204).end();
			return;
		}
		if (!/^[a-z-]+\.(html|js|css)$/.test(name)) {
			res.writeHead(404).end();
			return;
		}
		try {
			const body = readFileSync(join(dir, name));
			res.writeHead(200, { 'Content-Type': TYPES[extname(name)],
			    'Cache-Control': 'no-store' }).end(body);
		} catch {
			res.writeHead(404).end();
		}
	});
	return new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(port, '127.0.0.1', () => resolve(server));
	});
}

function launch(home) {
	return chromium.launch({
		executablePath: cfg.chromium,
		headless: true,
		// As root chromium runs only without its sandbox (the CI box is
		// root); playwright-core passes --no-sandbox for this.
		chromiumSandbox: false,
		timeout: 20000,
		env: { ...process.env, HOME: home },
		args: [
			'--use-fake-ui-for-media-stream',
			'--use-fake-device-for-media-stream',
			'--autoplay-policy=no-user-gesture-required',
			// Host candidates as addresses, not mDNS names nobody here
			// could resolve.
			'--disable-features=WebRtcHideLocalIpsWithMdns',
			'--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking',
			'--disable-component-update', '--disable-sync',
		],
	});
}

// Chromium without the test CA in its NSS database must refuse EPSIP's
// certificate: the main run's trust comes from the CA, nothing else.
async function untrustedCheck(origin) {
	const browser = await launch(cfg.untrustedHome);
	try {
		const page = await browser.newPage();
		// chromium says why a WebSocket failed only on the console.
		const console = [];
		page.on('console', (msg) => console.push(msg.text()));
		await page.goto(origin + '/phone.css');
		const got = await page.evaluate((wss) => new Promise((resolve) => {
			const ws = new WebSocket(wss, 'sip');
			const t = setTimeout(() => resolve({ opened: false,
			    timeout: true }), 8000);
			ws.onopen = () => {
				clearTimeout(t);
				ws.close();
				resolve({ opened: true });
			};
			ws.onclose = (e) => {
				clearTimeout(t);
				resolve({ opened: false, code: e.code });
			};
		}), cfg.wss);
		await sleep(100);
		return { ...got, console };
	} finally {
		await browser.close();
	}
}

async function flows(when) {
	const url = `http://127.0.0.1:${cfg.statsPort}/flows?transport=wss`;
	let body;
	try {
		const r = await fetch(url, { signal: AbortSignal.timeout(3000) });
		body = { status: r.status, json: r.ok ? await r.json() : null,
		    text: r.ok ? '' : await r.text() };
	} catch (e) {
		body = { status: null, error: String(e) };
	}
	say({ flows: body, when });
}

let page = null;
const frames = {};
// The step under way, named when something other than a wait fails
// (playwright's own time-outs, a page that throws).
let current = 'start';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function snapshot(lib) {
	return frames[lib].evaluate(() => window.phone ? {
		lib: phone.lib, version: phone.version, aor: phone.aor,
		state: phone.state, events: phone.events, trace: phone.trace,
	} : null);
}

async function snapshots() {
	const out = {};
	for (const lib of Object.keys(frames)) {
		try {
			out[lib] = await snapshot(lib);
		} catch (e) {
			out[lib] = { error: String(e) };
		}
	}
	return out;
}

// Wait until check(states) is true; bad(states) names a state that will
// never get better (a failed registration, a failed call), which ends the
// wait at once.  The message names the step and shows where each phone is.
async function until(step, check, bad = () => null,
    timeout = cfg.stepTimeoutMs) {
	current = step;
	const t0 = Date.now();
	let states = {};
	for (;;) {
		const last = {};
		for (const lib of Object.keys(frames)) {
			[states[lib], last[lib]] = await frames[lib].evaluate(() =>
			    window.phone ? [window.phone.state,
			    window.phone.events.at(-1)] : [null, null]);
		}
		if (check(states))
			break;
		const why = bad(states);
		if (why)
			throw new StepError(step, `${why}; ` + show(states, last));
		if (Date.now() - t0 > timeout) {
			throw new StepError(step, `not after ${timeout / 1000} s; ` +
			    show(states, last));
		}
		await sleep(100);
	}
	say({ step, ok: true, ms: Date.now() - t0 });
	return states;
}

// Where each phone is: its states and its last event.
function show(states, last) {
	return Object.entries(states).map(([lib, s]) => `${LIBS[lib]}: ` +
	    (s ? Object.entries(s).map(([k, v]) => `${k}=${v}`).join(' ') +
	    `, last event ${JSON.stringify(last[lib])}` : 'no phone'))
	    .join('; ');
}

async function click(lib, button) {
	current = `${LIBS[lib]}: click ${button}`;
	await frames[lib].click('#' + button, { timeout: 5000 });
}

// The page with both phones, its header naming the moment.
async function screenshot(name, label) {
	await page.evaluate((text) => {
		document.getElementById('step').textContent = text;
	}, label);
	const path = join(cfg.results, name);
	await page.screenshot({ path });
	say({ screenshot: path });
}

async function media(lib) {
	return frames[lib].evaluate(() => window.phone.mediaStats());
}

async function call(n, { caller, callee, hangup }) {
	const C = LIBS[caller], E = LIBS[callee];
	const tag = `call ${n} (${C} calls ${E})`;
	const failedCall = (s) => [caller, callee].find((l) =>
	    CALL_FAILED.includes(s[l].call)) ? 'the call failed' : null;
	await click(caller, 'call');
	await until(`${tag}: the INVITE reaches ${E}`,
	    (s) => s[callee].call === 'incoming', failedCall);
	await click(callee, 'answer');
	await until(`${tag}: the call is up on both phones`,
	    (s) => CALL_UP.includes(s[caller].call) &&
	    CALL_UP.includes(s[callee].call), failedCall);
	await until(`${tag}: ICE connects on both phones`,
	    (s) => ICE_UP.includes(s[caller].ice) &&
	    ICE_UP.includes(s[callee].ice),
	    (s) => [caller, callee].find((l) => s[l].ice === 'failed') ?
	    'ICE failed' : failedCall(s));
	// Audio both ways: the fake device's tone arrives as RTP.
	const t0 = Date.now();
	let m = {};
	for (;;) {
		m = { [caller]: await media(caller), [callee]: await media(callee) };
		if (m[caller].packetsReceived > 0 && m[callee].packetsReceived > 0)
			break;
		if (Date.now() - t0 > cfg.stepTimeoutMs) {
			throw new StepError(`${tag}: audio both ways`, `no RTP ` +
			    `after ${cfg.stepTimeoutMs / 1000} s: ` +
			    JSON.stringify(m));
		}
		await sleep(100);
	}
	say({ step: `${tag}: audio both ways`, ok: true, ms: Date.now() - t0,
	    media: m });
	await flows(`call ${n} up`);
	await screenshot(`call-${n}-up.png`, `${tag}: up`);
	const who = hangup === 'caller' ? caller : callee;
	await click(who, 'hangup');
	await until(`${tag}: ${LIBS[who]}'s BYE ends the call on both phones`,
	    (s) => CALL_DOWN.includes(s[caller].call) &&
	    CALL_DOWN.includes(s[callee].call));
}

async function main() {
	mkdirSync(cfg.results, { recursive: true });
	const pages = join(cfg.work, 'pages');
	const origin = `http://127.0.0.1:${cfg.originPort}`;
	let server = null;
	let browser = null;
	try {
		let t0 = Date.now();
		current = 'build the pages (esbuild)';
		await buildPages(pages);
		say({ step: current, ok: true, ms: Date.now() - t0 });
		server = await serve(pages, cfg.originPort);
		t0 = Date.now();
		current = 'chromium without the test CA';
		say({ untrusted: await untrustedCheck(origin),
		    ms: Date.now() - t0 });
		t0 = Date.now();
		current = 'start chromium';
		browser = await launch(cfg.home);
		say({ step: current, ok: true, ms: Date.now() - t0,
		    version: browser.version() });
		page = await browser.newPage({ viewport: { width: 1100,
		    height: 570 } });
		page.on('console', (msg) => {
			if (msg.type() === 'error')
				say({ console: msg.text() });
		});
		const q = new URLSearchParams({ wss: cfg.wss, a: cfg.aors.jssip,
		    b: cfg.aors.sipjs, pa: cfg.passwords.jssip,
		    pb: cfg.passwords.sipjs });
		current = 'load both phone pages';
		await page.goto(`${origin}/index.html?${q}`);
		for (const lib of Object.keys(LIBS)) {
			const el = await page.waitForSelector('#' + lib);
			frames[lib] = await el.contentFrame();
		}
		await until(current, (s) => s.jssip && s.sipjs);
		const failedReg = (s) => Object.keys(LIBS).find((l) =>
		    s[l].registration === 'failed') ? 'a REGISTER failed' : null;
		for (const lib of Object.keys(LIBS)) {
			await until(`${LIBS[lib]} registers over WSS`,
			    (s) => s[lib].registration === 'registered', failedReg);
		}
		await flows('registered');
		let n = 0;
		for (const c of cfg.calls)
			await call(++n, c);
		await screenshot('both-phones-after-bye.png', 'after both calls');
		say({ phones: await snapshots() });
	} catch (e) {
		const phones = await snapshots();
		if (page) {
			try {
				await screenshot('failure.png', `failed: ${current}`);
			} catch {
			}
		}
		say({ failed: e instanceof StepError ? e.step : current,
		    error: e instanceof StepError ? e.message :
		    String(e.stack || e), phones });
		process.exitCode = 1;
	} finally {
		if (browser)
			await browser.close().catch(() => {});
		if (server)
			server.close();
	}
}

await main();
