// Differential-test and benchmark harness for Siddhi 5.1.x (the jars of the PySiddhi 5.1.0 wheel).
//
// Compile with `javac -proc:none` (the jars carry an annotation processor for Java 8).
// Usage:
//   java -cp JARS:CLASSDIR SiddhiHarness APP.siddhi TRACE.tsv OUT.tsv
//        [--batch N] [--outputs S1,S2] [--flush-at MS] [--tick-every MS] [--warmup K] [--repeat R]
//
// APP.siddhi is a SiddhiQL app; the harness forces `@app:playback` so that time comes from the
// events' timestamps, never from the wall clock. TRACE.tsv has one event per line:
//   stream <TAB> timestamp_ms <TAB> attr1 <TAB> attr2 ...   (attributes in definition order)
// `\N` is null; strings may not hold tabs or newlines. OUT.tsv receives every event of every
// output stream (--outputs, default: every defined stream that the trace does not feed):
//   stream <TAB> timestamp_ms <TAB> C|E <TAB> value1 ...   (C current, E expired)
// Doubles are written with Double.toString (round-trips exactly). --flush-at MS sends one
// event on the harness's own stream LoopmlFlush at time MS after the trace, so that playback
// time advances and scheduled work (timeBatch, `output every`, `not ... for`) fires.
// --tick-every MS sends a LoopmlFlush event at each multiple of MS before the first event at or
// after it (a heartbeat, as a watermark would close windows). --batch N sends runs of up to N consecutive same-stream events with InputHandler.send(Event[]);
// without it every event is sent alone with send(Event). --repeat R (bench mode) replays the
// trace R times on fresh runtimes after K warm-up runs, counts outputs instead of writing them,
// and prints one JSON line per run: {"run": i, "events": n, "seconds": wall, "cpu_seconds":
// process CPU time (all JVM threads), "outputs": m}.
import io.siddhi.core.SiddhiAppRuntime;
import io.siddhi.core.SiddhiManager;
import io.siddhi.core.event.Event;
import io.siddhi.core.stream.input.InputHandler;
import io.siddhi.core.stream.output.StreamCallback;
import io.siddhi.query.api.definition.Attribute;
import io.siddhi.query.api.definition.StreamDefinition;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

public final class SiddhiHarness {
    private static final String FLUSH = "LoopmlFlush";

    private SiddhiHarness() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: SiddhiHarness APP TRACE OUT [--batch N] [--outputs A,B]"
                    + " [--flush-at MS] [--warmup K] [--repeat R]");
            System.exit(2);
        }
        int batch = 0;
        int warmup = 0;
        int repeat = 0;
        Long flushAt = null;
        long tick = 0;
        Set<String> outputs = null;
        for (int i = 3; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--batch": batch = Integer.parseInt(v); break;
                case "--warmup": warmup = Integer.parseInt(v); break;
                case "--repeat": repeat = Integer.parseInt(v); break;
                case "--flush-at": flushAt = Long.parseLong(v); break;
                case "--tick-every": tick = Long.parseLong(v); break;
                case "--outputs": outputs = new LinkedHashSet<>(Arrays.asList(v.split(","))); break;
                default: throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        String app = playback(new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8));
        SiddhiManager manager = new SiddhiManager();
        SiddhiAppRuntime probe = manager.createSiddhiAppRuntime(app);
        Map<String, StreamDefinition> defs = probe.getStreamDefinitionMap();
        List<String> names = new ArrayList<>();
        List<Event> events = readTrace(args[1], defs, names);
        probe.shutdown();
        if (outputs == null) {
            outputs = new LinkedHashSet<>(defs.keySet());
            outputs.removeAll(names);
            outputs.remove(FLUSH);
        }
        if (repeat > 0) {
            for (int r = 0; r < warmup + repeat; r++) {
                AtomicLong count = new AtomicLong();
                long c0 = processCpuNanos();
                long t0 = System.nanoTime();
                runOnce(manager, app, outputs, events, names, batch, tick, flushAt, null, count);
                double secs = (System.nanoTime() - t0) / 1e9;
                double cpu = (processCpuNanos() - c0) / 1e9;
                if (r >= warmup) {
                    System.out.println("{\"run\": " + (r - warmup) + ", \"events\": " + events.size()
                            + ", \"seconds\": " + secs + ", \"cpu_seconds\": " + cpu
                            + ", \"outputs\": " + count.get() + "}");
                }
            }
        } else {
            try (BufferedWriter out = Files.newBufferedWriter(Paths.get(args[2]), StandardCharsets.UTF_8)) {
                runOnce(manager, app, outputs, events, names, batch, tick, flushAt, out, new AtomicLong());
            }
        }
        manager.shutdown();
        System.out.flush();
        // Siddhi leaves non-daemon pool threads behind that would keep the JVM up for ~2 s.
        System.exit(0);
    }

    /** CPU time of the whole JVM process (all threads: JIT and GC included), in ns. */
    static long processCpuNanos() {
        java.lang.management.OperatingSystemMXBean os =
                java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean) {
            return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime();
        }
        return System.nanoTime();
    }

    /** Adds @app:playback (unless present) and the harness's own flush stream. */
    static String playback(String app) {
        String body = app.contains("@app:playback") ? app : "@app:playback\n" + app;
        // Definitions must precede queries: the flush stream goes before the first `define`.
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^\\s*define\\s").matcher(body);
        int at = m.find() ? m.start() : body.length();
        return body.substring(0, at) + "define stream " + FLUSH + " (x int);\n" + body.substring(at);
    }

    static List<Event> readTrace(String path, Map<String, StreamDefinition> defs, List<String> names)
            throws IOException {
        List<Event> events = new ArrayList<>();
        Map<String, String> interned = new HashMap<>();
        try (BufferedReader in = Files.newBufferedReader(Paths.get(path), StandardCharsets.UTF_8)) {
            String line;
            int lineNo = 0;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isEmpty()) {
                    continue;
                }
                String[] f = line.split("\t", -1);
                StreamDefinition def = defs.get(f[0]);
                if (def == null) {
                    throw new IllegalArgumentException("line " + lineNo + ": unknown stream " + f[0]);
                }
                List<Attribute> attrs = def.getAttributeList();
                if (f.length != attrs.size() + 2) {
                    throw new IllegalArgumentException("line " + lineNo + ": expected "
                            + (attrs.size() + 2) + " fields, got " + f.length);
                }
                Object[] data = new Object[attrs.size()];
                for (int i = 0; i < data.length; i++) {
                    data[i] = parse(f[i + 2], attrs.get(i).getType(), interned);
                }
                events.add(new Event(Long.parseLong(f[1]), data));
                names.add(interned.computeIfAbsent(f[0], k -> k));
            }
        }
        return events;
    }

    static Object parse(String s, Attribute.Type type, Map<String, String> interned) {
        if (s.equals("\\N")) {
            return null;
        }
        switch (type) {
            case STRING: return interned.computeIfAbsent(s, k -> k);
            case INT: return Integer.parseInt(s);
            case LONG: return Long.parseLong(s);
            case FLOAT: return Float.parseFloat(s);
            case DOUBLE: return Double.parseDouble(s);
            case BOOL: return Boolean.parseBoolean(s);
            default: throw new IllegalArgumentException("unsupported attribute type " + type);
        }
    }

    static void runOnce(SiddhiManager manager, String app, Set<String> outputs, List<Event> events,
                        List<String> names, int batch, long tick, Long flushAt, Writer out,
                        AtomicLong count)
            throws Exception {
        SiddhiAppRuntime rt = manager.createSiddhiAppRuntime(app);
        for (String s : outputs) {
            rt.addCallback(s, new StreamCallback() {
                @Override
                public void receive(Event[] evs) {
                    count.addAndGet(evs.length);
                    if (out != null) {
                        write(out, s, evs);
                    }
                }
            });
        }
        rt.start();
        Map<String, InputHandler> handlers = new HashMap<>();
        InputHandler flush = rt.getInputHandler(FLUSH);
        int n = events.size();
        long nextTick = tick > 0 && n > 0 ? Math.floorDiv(events.get(0).getTimestamp(), tick) * tick + tick
                : Long.MAX_VALUE;
        int i = 0;
        while (i < n) {
            long ts = events.get(i).getTimestamp();
            if (ts >= nextTick) {
                // Advance playback time to the last boundary at or before ts first, so that
                // scheduled work due by then (a timeBatch closing) happens before this event.
                long boundary = Math.floorDiv(ts, tick) * tick;
                flush.send(new Event(boundary, new Object[]{0}));
                nextTick = boundary + tick;
            }
            String stream = names.get(i);
            InputHandler h = handlers.computeIfAbsent(stream, rt::getInputHandler);
            if (batch <= 1) {
                h.send(events.get(i));
                i++;
                continue;
            }
            int j = i + 1;
            // A batch holds consecutive events of one stream only, so arrival order is kept.
            while (j < n && j - i < batch && names.get(j) == stream
                    && events.get(j).getTimestamp() < nextTick) {
                j++;
            }
            h.send(events.subList(i, j).toArray(new Event[0]));
            i = j;
        }
        if (flushAt != null) {
            flush.send(new Event(flushAt, new Object[]{0}));
        }
        rt.shutdown();
    }

    static void write(Writer out, String stream, Event[] evs) {
        try {
            StringBuilder sb = new StringBuilder();
            for (Event e : evs) {
                sb.append(stream).append('\t').append(e.getTimestamp()).append('\t')
                        .append(e.isExpired() ? 'E' : 'C');
                for (Object o : e.getData()) {
                    sb.append('\t').append(o == null ? "\\N" : escape(o.toString()));
                }
                sb.append('\n');
            }
            out.write(sb.toString());
        } catch (IOException ex) {
            throw new IllegalStateException(ex);
        }
    }

    static String escape(String s) {
        return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n");
    }
}
