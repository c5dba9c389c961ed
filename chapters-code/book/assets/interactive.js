// Interactive figures. Written for this book (no library): each <figure class="interactive">
// carries its resolved spec and data as JSON (see chapters-code/book/src/interactive.rs); this
// script draws it as SVG with its controls — sliders, selects and toggles over the series' tags, a
// cursor along x with a read-out, and a legend whose checkboxes show and hide series.
'use strict';

(function interactiveFigures() {
    const SVG = 'http://www.w3.org/2000/svg';
    // Okabe–Ito: distinguishable with the common colour-vision deficiencies.
    const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442'];
    const WIDTH = 640;
    const HEIGHT = 360;
    const MARGIN = { left: 72, right: 16, top: 14, bottom: 46 };

    document.querySelectorAll('figure.interactive').forEach(figure => {
        const specNode = figure.querySelector('script.interactive-spec');
        if (!specNode) {
            return;
        }
        try {
            build(figure, JSON.parse(specNode.textContent));
            figure.dataset.ready = 'true';
        } catch (error) {
            const note = document.createElement('p');
            note.className = 'interactive-error';
            note.textContent = `This figure could not be drawn: ${error.message}`;
            figure.append(note);
        }
    });

    function el(tag, attrs, text) {
        const node = document.createElement(tag);
        Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
        if (text !== undefined) {
            node.textContent = text;
        }
        return node;
    }

    function svg(tag, attrs, text) {
        const node = document.createElementNS(SVG, tag);
        Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
        if (text !== undefined) {
            node.textContent = text;
        }
        return node;
    }

    function format(v) {
        if (v === null || v === undefined || !Number.isFinite(v)) {
            return '—';
        }
        const a = Math.abs(v);
        if (a !== 0 && (a >= 1e5 || a < 1e-3)) {
            return v.toExponential(2).replace('e+', 'e');
        }
        return String(Number(v.toPrecision(4)));
    }

    // A scale maps data to pixels; log scales work in log10 space. An axis' min and max, when given,
    // fix the range; values outside it map outside the frame (the plot clips them).
    function scale(values, axis, from, to) {
        const log = axis.log;
        const t = v => (log ? Math.log10(v) : v);
        const fixed = v => v !== null && v !== undefined;
        const usable = values.filter(v => Number.isFinite(v) && (!log || v > 0)).map(t);
        let lo = fixed(axis.min) ? t(axis.min) : Math.min(...usable);
        let hi = fixed(axis.max) ? t(axis.max) : Math.max(...usable);
        if (lo === hi) {
            lo -= log ? 1 : Math.abs(lo) || 1;
            hi += log ? 1 : Math.abs(hi) || 1;
        }
        const map = v => from + ((t(v) - lo) / (hi - lo)) * (to - from);
        map.ok = v => Number.isFinite(v) && (!log || v > 0);
        map.inside = v => map.ok(v) && t(v) >= lo - 1e-9 * Math.abs(hi - lo) && t(v) <= hi + 1e-9 * Math.abs(hi - lo);
        map.ticks = log ? logTicks(lo, hi) : linearTicks(lo, hi);
        return map;
    }

    function logTicks(lo, hi) {
        const first = Math.ceil(lo - 1e-9);
        const last = Math.floor(hi + 1e-9);
        const step = Math.max(1, Math.ceil((last - first + 1) / 8));
        const ticks = [];
        // Exponents at multiples of the step, so that 10⁰ is labelled whenever it is in range.
        for (let k = Math.ceil(first / step) * step; k <= last; k += step) {
            ticks.push({ value: Math.pow(10, k), exponent: k });
        }
        return ticks;
    }

    function linearTicks(lo, hi) {
        const raw = (hi - lo) / 6;
        const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
        const step = [1, 2, 5, 10].map(m => m * magnitude).find(s => s >= raw);
        const ticks = [];
        for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
            ticks.push({ value: Math.abs(v) < step * 1e-9 ? 0 : v });
        }
        return ticks;
    }

    function tickLabel(tick, parent, attrs) {
        const text = svg('text', attrs);
        if (tick.exponent === undefined) {
            text.textContent = format(tick.value);
        } else if (tick.exponent === 0) {
            text.textContent = '1';
        } else {
            text.append('10');
            const sup = svg('tspan', { dy: '-0.5em', 'font-size': '0.75em' }, String(tick.exponent).replace('-', '−'));
            text.append(sup);
        }
        parent.append(text);
    }

    function build(figure, spec) {
        // `colour` is a palette index (series with the same colour key share one); older specs lack it.
        const series = spec.series.map((s, i) => ({ ...s, colour: COLOURS[(s.colour ?? i) % COLOURS.length], on: true }));
        const values = {};
        spec.controls.forEach(c => {
            values[c.tag] = c.value;
        });
        const xs = [...new Set(series.flatMap(s => s.x).filter(v => v !== null))].sort((a, b) => a - b);
        const inRange = v => (spec.x.min ?? -Infinity) <= v && v <= (spec.x.max ?? Infinity);
        const cursorValues = xs.filter(v => (!spec.x.log || v > 0) && inRange(v));
        let cursor = null;
        if (spec.cursor) {
            const wanted = spec.cursor.value ?? cursorValues[cursorValues.length - 1];
            cursor = cursorValues.reduce((best, v) => (Math.abs(v - wanted) < Math.abs(best - wanted) ? v : best));
        }

        const title = el('figcaption', { class: 'interactive-title' }, spec.title);
        const controls = el('div', { class: 'interactive-controls' });
        const plot = svg('svg', {
            viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
            class: 'interactive-plot',
            role: 'img',
            'aria-label': spec.title,
        });
        const readout = el('div', { class: 'interactive-readout', 'aria-live': 'polite' });
        const legend = el('div', { class: 'interactive-legend' });
        figure.prepend(title);
        figure.append(controls, plot, readout, legend);
        if (spec.caption) {
            figure.append(el('p', { class: 'interactive-caption' }, spec.caption));
        }
        figure.append(el('p', { class: 'interactive-source' }, `Data: src/figures/${spec.source}`));

        spec.controls.forEach((control, n) => {
            const id = `${figure.id}-control-${n}`;
            const wrap = el('label', { class: 'interactive-control', for: id });
            wrap.append(el('span', {}, control.kind === 'toggle' ? ` ${control.label}` : `${control.label}: `));
            let input;
            if (control.kind === 'slider') {
                input = el('input', {
                    id,
                    type: 'range',
                    min: '0',
                    max: String(control.values.length - 1),
                    step: '1',
                    value: String(control.values.indexOf(control.value)),
                });
                const shown = el('output', { for: id }, control.value);
                input.addEventListener('input', () => {
                    values[control.tag] = control.values[Number(input.value)];
                    shown.textContent = values[control.tag];
                    draw();
                });
                wrap.append(input, shown);
            } else if (control.kind === 'select') {
                input = el('select', { id });
                control.values.forEach(v => input.append(el('option', { value: v }, v)));
                input.value = control.value;
                input.addEventListener('change', () => {
                    values[control.tag] = input.value;
                    draw();
                });
                wrap.append(input);
            } else {
                input = el('input', { id, type: 'checkbox' });
                input.checked = control.value === control.values[1];
                input.addEventListener('change', () => {
                    values[control.tag] = control.values[input.checked ? 1 : 0];
                    draw();
                });
                wrap.prepend(input);
            }
            controls.append(wrap);
        });

        if (spec.cursor) {
            const id = `${figure.id}-cursor`;
            const wrap = el('label', { class: 'interactive-control interactive-cursor', for: id });
            const input = el('input', {
                id,
                type: 'range',
                min: '0',
                max: String(cursorValues.length - 1),
                step: '1',
                value: String(cursorValues.indexOf(cursor)),
            });
            const shown = el('output', { for: id }, format(cursor));
            input.addEventListener('input', () => {
                cursor = cursorValues[Number(input.value)];
                shown.textContent = format(cursor);
                draw();
            });
            wrap.append(el('span', {}, `${spec.cursor.label}: `), input, shown);
            controls.append(wrap);
        }

        series.forEach((s, i) => {
            const id = `${figure.id}-series-${i}`;
            const item = el('label', { class: 'interactive-legend-item', for: id });
            const box = el('input', { id, type: 'checkbox' });
            box.checked = true;
            box.addEventListener('change', () => {
                s.on = box.checked;
                draw();
            });
            const swatch = el('span', { class: 'interactive-swatch' });
            swatch.style.borderTopColor = s.colour;
            swatch.style.borderTopStyle = s.dashed ? 'dashed' : 'solid';
            item.append(box, swatch, document.createTextNode(s.label));
            s.legend = item;
            legend.append(item);
        });

        // The axes span every series, whatever is shown: switching a control keeps the scale.
        const x = scale(series.flatMap(s => s.x), spec.x, MARGIN.left, WIDTH - MARGIN.right);
        const y = scale(series.flatMap(s => s.y), spec.y, HEIGHT - MARGIN.bottom, MARGIN.top);
        // Lines are clipped to the frame; points far outside it are pulled in to a finite distance
        // (a diverged run's 1e18 would otherwise make coordinates no renderer draws faithfully).
        const clipId = `${figure.id}-clip`;
        const far = v => Math.max(-2 * HEIGHT, Math.min(3 * HEIGHT, v));
        const selected = s => spec.controls.every(c => !(c.tag in s.tags) || s.tags[c.tag] === values[c.tag]);

        function draw() {
            plot.replaceChildren();
            const axes = svg('g', { class: 'interactive-axes' });
            const bottom = HEIGHT - MARGIN.bottom;
            const clip = svg('clipPath', { id: clipId });
            clip.append(svg('rect', {
                x: MARGIN.left,
                y: MARGIN.top,
                width: WIDTH - MARGIN.left - MARGIN.right,
                height: bottom - MARGIN.top,
            }));
            const defs = svg('defs');
            defs.append(clip);
            plot.append(defs);
            x.ticks.forEach(tick => {
                const px = x(tick.value);
                axes.append(svg('line', { x1: px, x2: px, y1: MARGIN.top, y2: bottom, class: 'interactive-grid' }));
                tickLabel(tick, axes, { x: px, y: bottom + 16, 'text-anchor': 'middle' });
            });
            y.ticks.forEach(tick => {
                const py = y(tick.value);
                axes.append(svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: py, y2: py, class: 'interactive-grid' }));
                tickLabel(tick, axes, { x: MARGIN.left - 6, y: py + 4, 'text-anchor': 'end' });
            });
            axes.append(svg('rect', {
                x: MARGIN.left,
                y: MARGIN.top,
                width: WIDTH - MARGIN.left - MARGIN.right,
                height: bottom - MARGIN.top,
                class: 'interactive-frame',
            }));
            axes.append(svg('text', { x: (MARGIN.left + WIDTH - MARGIN.right) / 2, y: HEIGHT - 8, 'text-anchor': 'middle' }, spec.x.label));
            const yMid = (MARGIN.top + bottom) / 2;
            axes.append(svg('text', { x: 14, y: yMid, transform: `rotate(-90 14 ${yMid})`, 'text-anchor': 'middle' }, spec.y.label));
            plot.append(axes);

            const lines = [];
            series.forEach(s => {
                const visible = selected(s);
                s.legend.hidden = !visible;
                if (!visible || !s.on) {
                    return;
                }
                let d = '';
                let pen = false;
                let at = null;
                s.x.forEach((xv, i) => {
                    const yv = s.y[i];
                    const past = cursor !== null && spec.cursor.truncate && xv > cursor;
                    if (past || xv === null || yv === null || !x.ok(xv) || !y.ok(yv)) {
                        pen = false;
                        return;
                    }
                    d += `${pen ? 'L' : 'M'}${far(x(xv)).toFixed(1)},${far(y(yv)).toFixed(1)}`;
                    pen = true;
                    if (xv === cursor) {
                        at = { xv, yv };
                    }
                });
                const path = svg('path', { d, stroke: s.colour, class: 'interactive-line', 'clip-path': `url(#${clipId})` });
                if (s.dashed) {
                    path.setAttribute('stroke-dasharray', '6 4');
                }
                path.append(svg('title', {}, s.label));
                plot.append(path);
                lines.push({ s, at });
            });

            if (cursor !== null) {
                const px = x(cursor);
                plot.append(svg('line', { x1: px, x2: px, y1: MARGIN.top, y2: bottom, class: 'interactive-cursor-line' }));
                const items = [];
                // A series without a point at the cursor (a run that stopped early) reads "—".
                lines.forEach(({ s, at }) => {
                    if (at && y.inside(at.yv)) {
                        plot.append(svg('circle', { cx: x(at.xv), cy: y(at.yv), r: 4, fill: s.colour }));
                    }
                    items.push(`${s.label}: ${at ? format(at.yv) : '—'}`);
                });
                readout.textContent = `${spec.cursor.label} = ${format(cursor)} → ${items.join(' · ')}`;
            } else {
                readout.textContent = '';
            }
        }

        draw();
    }
})();
