import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

// The anchor of bench_wire's Java lines: ObjectOutputStream.writeObject and
// ObjectInputStream.readObject of Person and Large on this JVM, in CPU ns of the
// measuring thread (ThreadMXBean), the median of several rounds after a JIT warm-up.
// Each message is its own stream, as nexo's is: a new ObjectOutputStream (header and
// class descriptors) into a reused ByteArrayOutputStream (reset() each time), and a new
// ObjectInputStream over the bytes.
//   java WireJavaBench [rounds] [round_ms]
// prints lines "<message> <encode|decode> <ns>" and "<message> bytes <n>".
public class WireJavaBench {
  interface Op {
    Object run() throws Exception;
  }

  static final ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
  static Object sink;

  static double measure(Op op, int rounds, double roundMs) throws Exception {
    long iterations = 1;
    for (;;) {  // calibrate: a quarter round, as bench_wire does for nexo
      long t0 = cpu.getCurrentThreadCpuTime();
      for (long i = 0; i < iterations; ++i) sink = op.run();
      long spent = cpu.getCurrentThreadCpuTime() - t0;
      if (spent >= roundMs * 1e6 / 4) {
        iterations = Math.max(1, (long) (iterations * roundMs * 1e6 / spent));
        break;
      }
      iterations *= 2;
    }
    double[] ns = new double[rounds];
    for (int r = 0; r < rounds; ++r) {
      long t0 = cpu.getCurrentThreadCpuTime();
      for (long i = 0; i < iterations; ++i) sink = op.run();
      ns[r] = (double) (cpu.getCurrentThreadCpuTime() - t0) / iterations;
    }
    Arrays.sort(ns);
    return ns[rounds / 2];
  }

  static Large large() {  // examples::make_large()
    Large l = new Large();
    l.id = 424242;
    l.timestamp = 1764000000123456789L;
    l.flags = (int) 0xdeadbeefL;
    l.ratio = 0.618034f;
    l.total = 12345.678901234567;
    l.complete = true;
    l.description = "a large message: scalars, a string, 1,000 doubles and 50 nested records";
    l.samples = new double[1000];
    for (int i = 0; i < 1000; ++i) l.samples[i] = Math.sin(i * 0.001) * 1000.0 + i / 7.0;
    l.records = new Record[50];
    for (int i = 0; i < 50; ++i) {
      Record r = new Record();
      r.id = i * 37 - 500;
      r.value = i / 3.0;
      r.label = "record number " + i;
      r.valid = i % 3 == 0;
      l.records[i] = r;
    }
    return l;
  }

  static void bench(String name, Object value, int rounds, double roundMs) throws Exception {
    ByteArrayOutputStream buffer = new ByteArrayOutputStream(1 << 16);
    Op encode = () -> {
      buffer.reset();
      ObjectOutputStream out = new ObjectOutputStream(buffer);
      out.writeObject(value);
      out.flush();
      return buffer;
    };
    encode.run();
    byte[] bytes = buffer.toByteArray();
    Op decode = () -> new ObjectInputStream(new ByteArrayInputStream(bytes)).readObject();
    // Round trip, outside the timed loops.
    Object back = decode.run();
    buffer.reset();
    ObjectOutputStream again = new ObjectOutputStream(buffer);
    again.writeObject(back);
    again.flush();
    if (!Arrays.equals(bytes, buffer.toByteArray()))
      throw new IllegalStateException(name + " did not round-trip");
    // JIT warm-up: a few seconds of both operations.
    long until = System.nanoTime() + 1_500_000_000L;
    while (System.nanoTime() < until) {
      for (int i = 0; i < 100; ++i) {
        sink = encode.run();
        sink = decode.run();
      }
    }
    System.out.printf("%s bytes %d%n", name, bytes.length);
    System.out.printf("%s encode %.1f%n", name, measure(encode, rounds, roundMs));
    System.out.printf("%s decode %.1f%n", name, measure(decode, rounds, roundMs));
  }

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 9;
    double roundMs = args.length > 1 ? Double.parseDouble(args[1]) : 40;
    bench("person", new Person("Smith", "London", 1984), rounds, roundMs);
    bench("large", large(), rounds, roundMs);
  }
}
