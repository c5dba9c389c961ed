// Runnable listings. Written for this book (no library); added by `book build` to pages with
// listings. In the static site it does nothing: each listing shows the output recorded when the
// book was built. Under `book serve`, the server injects a per-launch token into the page
// (<meta name="book-run-token">); then every listing becomes editable and gets Run and Reset
// buttons, and Run posts the code to the local server's /api/run, which compiles it against the
// workspace crates and streams back its progress and output.
'use strict';

(function runnableListings() {
    const meta = document.querySelector('meta[name="book-run-token"]');
    const outputs = Array.from(document.querySelectorAll('div.listing-output'));
    if (!meta || outputs.length === 0) {
        return;
    }
    const token = meta.getAttribute('content');
    const stageText = {
        queued: 'waiting for another run to finish…',
        preparing: 'preparing: building the workspace crates (the first time can take minutes)…',
        compiling: 'compiling…',
        running: 'running…',
    };

    fetch('/api/status', { headers: { 'X-Book-Token': token } })
        .then(response => (response.ok ? response.json() : null))
        .then(status => {
            if (status) {
                outputs.forEach(output => setUp(output, status));
            }
        })
        .catch(() => {});

    function element(tag, className, text) {
        const node = document.createElement(tag);
        if (className) {
            node.className = className;
        }
        if (text !== undefined) {
            node.textContent = text;
        }
        return node;
    }

    // The program text of an edited <code>: text nodes, with line breaks for <br> and for the
    // block elements a browser may insert while editing. Hidden (`boring`) lines are included.
    function codeText(node) {
        let text = '';
        node.childNodes.forEach(child => {
            if (child.nodeType === Node.TEXT_NODE) {
                text += child.data;
            } else if (child.nodeName === 'BR') {
                text += '\n';
            } else if (child.nodeType === Node.ELEMENT_NODE) {
                const block = child.nodeName === 'DIV' || child.nodeName === 'P';
                if (block && text && !text.endsWith('\n')) {
                    text += '\n';
                }
                text += codeText(child);
            }
        });
        return text;
    }

    function setUp(output, status) {
        const pre = output.previousElementSibling;
        const code = pre && pre.tagName === 'PRE' ? pre.querySelector('code') : null;
        if (!code) {
            return;
        }
        const original = code.innerHTML;
        const crateName = output.dataset.crate || null;
        code.setAttribute('contenteditable', 'plaintext-only');
        if (code.contentEditable !== 'plaintext-only') {
            code.setAttribute('contenteditable', 'true');
        }
        code.spellcheck = false;
        code.classList.add('listing-editable');
        code.setAttribute('aria-label', 'Listing code, editable; Ctrl+Enter runs it');

        const toolbar = element('div', 'listing-toolbar');
        const run = element('button', 'listing-run', '▶ Run');
        run.type = 'button';
        run.title = 'Compile and run this code on your machine (Ctrl+Enter)';
        const reset = element('button', 'listing-reset', 'Reset');
        reset.type = 'button';
        reset.title = 'Back to the listing as printed';
        reset.hidden = true;
        const state = element('span', 'listing-state');
        state.setAttribute('role', 'status');
        if (status.state === 'preparing') {
            state.textContent = 'the server is still preparing; the first run may wait for it';
        }
        toolbar.append(run, reset, state);
        const live = element('div', 'listing-live');
        live.setAttribute('aria-live', 'polite');
        live.hidden = true;
        pre.after(toolbar, live);

        code.addEventListener('input', () => {
            reset.hidden = false;
        });
        code.addEventListener('keydown', event => {
            if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
                event.preventDefault();
                runCode();
            } else if (event.key === 'Tab' && !event.shiftKey) {
                event.preventDefault();
                document.execCommand('insertText', false, '    ');
            }
        });
        run.addEventListener('click', runCode);
        reset.addEventListener('click', () => {
            code.innerHTML = original;
            reset.hidden = true;
            live.hidden = true;
            live.replaceChildren();
            output.hidden = false;
            state.textContent = '';
        });

        async function runCode() {
            if (run.disabled) {
                return;
            }
            run.disabled = true;
            state.textContent = stageText.compiling;
            live.classList.add('listing-live-pending');
            try {
                const response = await fetch('/api/run', {
                    method: 'POST',
                    headers: { 'Content-Type': 'application/json', 'X-Book-Token': token },
                    body: JSON.stringify({ code: codeText(code), crate: crateName }),
                });
                if (!response.ok) {
                    const body = await response.json().catch(() => ({}));
                    showError(body.error || `the server answered ${response.status}`);
                    return;
                }
                const reader = response.body.getReader();
                const decoder = new TextDecoder();
                let buffer = '';
                let finished = false;
                for (;;) {
                    const { value, done } = await reader.read();
                    if (done) {
                        break;
                    }
                    buffer += decoder.decode(value, { stream: true });
                    let newline;
                    while ((newline = buffer.indexOf('\n')) >= 0) {
                        const line = buffer.slice(0, newline).trim();
                        buffer = buffer.slice(newline + 1);
                        if (line) {
                            finished = handle(JSON.parse(line)) || finished;
                        }
                    }
                }
                if (!finished) {
                    showError('the connection to the server ended early');
                }
            } catch (error) {
                showError(`could not reach the server (${error.message}); is \`book serve\` still running?`);
            } finally {
                run.disabled = false;
                live.classList.remove('listing-live-pending');
            }
        }

        function handle(event) {
            if (event.stage === 'done') {
                show(event.outcome);
                return true;
            }
            if (event.stage === 'error') {
                showError(event.message);
                return true;
            }
            state.textContent = stageText[event.stage] || event.stage;
            return false;
        }

        function showError(message) {
            state.textContent = 'failed';
            live.replaceChildren(element('pre', 'listing-compiler', message));
            live.hidden = false;
        }

        function show(outcome) {
            const parts = [];
            const seconds = ms => (ms / 1000).toFixed(2);
            if (!outcome.compiled) {
                state.textContent = `did not compile (${seconds(outcome.compile_ms)} s)`;
                parts.push(element('div', 'listing-output-label', 'Compiler errors'));
                parts.push(element('pre', 'listing-compiler', outcome.compiler.trim()));
            } else {
                state.textContent =
                    `${outcome.success ? 'done' : outcome.ending}: compiled in ${seconds(outcome.compile_ms)} s, ` +
                    `ran in ${seconds(outcome.run_ms)} s`;
                parts.push(element('div', 'listing-output-label', outcome.success ? 'Output' : `Output (${outcome.ending})`));
                if (outcome.stdout || !outcome.stderr) {
                    parts.push(element('pre', 'listing-stdout', outcome.stdout.replace(/\n$/, '') || '(no output)'));
                }
                if (outcome.stderr) {
                    parts.push(element('pre', 'listing-stderr', outcome.stderr.replace(/\n$/, '')));
                }
                outcome.figures.forEach(figure => {
                    const img = element('img', 'listing-figure');
                    img.alt = `Figure written by the program: ${figure.name}`;
                    // As an image, an SVG cannot run scripts.
                    img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(figure.svg);
                    parts.push(img);
                });
                if (outcome.compiler.trim()) {
                    const details = element('details', 'listing-warnings');
                    details.append(element('summary', null, 'Compiler warnings'));
                    details.append(element('pre', 'listing-compiler', outcome.compiler.trim()));
                    parts.push(details);
                }
            }
            live.replaceChildren(...parts);
            live.hidden = false;
            output.hidden = true;
        }
    }
})();
