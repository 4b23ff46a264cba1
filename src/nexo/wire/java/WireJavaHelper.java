import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.IdentityHashMap;

// The JVM side of wire_java_interop_test:
//   write <case> <file>   builds the case's objects and writes them with ObjectOutputStream
//   check <case> <file>   reads the file with ObjectInputStream, prints the object and
//                         exits 0 when it equals the case's objects (1 otherwise)
//   echo <in> <out>       reads one object and writes it back in a new stream
// Cases: person, large, mixed, pair, ring, dlist (the twins of nexo's test values).
public class WireJavaHelper {
  static Object build(String name) {
    switch (name) {
      case "person":
        return new Person("Smith", "London", 1984);
      case "large":
        return large();
      case "mixed":
        return mixed();
      case "pair": {
        Pair p = new Pair();
        p.first = new Point(3, 4);
        p.second = p.first;
        p.left = new String("same");
        p.right = p.left;  // one String object: written once, then TC_REFERENCE
        return p;
      }
      case "ring": {
        Node a = new Node(), b = new Node(), c = new Node();
        a.value = 1;
        b.value = 2;
        c.value = 3;
        a.next = b;
        b.next = c;
        c.next = a;
        return a;
      }
      case "dlist": {
        DNode a = new DNode(), b = new DNode();
        a.value = 1;
        b.value = 2;
        a.next = b;
        b.prev = a;
        return a;
      }
      default:
        throw new IllegalArgumentException("unknown case " + name);
    }
  }

  // examples::make_large(); the samples use Math.sin, so they are compared with a
  // tolerance (C's sin may differ in the last bit).
  static Large large() {
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

  // java_test::make_mixed().
  static Mixed mixed() {
    Mixed m = new Mixed();
    m.b = -100;
    m.s = -30000;
    m.i = -2000000000;
    m.l = -9876543210L;
    m.f = 3.1415927f;
    m.d = 0.1;
    m.z = true;
    m.c = '\u20ac';
    m.ub = (byte) 200;
    m.us = (short) 60000;
    m.ui = (int) 4000000000L;
    m.ul = -1L;
    m.bytes = new byte[] {0, 1, (byte) 0xfe, (byte) 0xff};
    m.shorts = new short[] {1, -1, 32767};
    m.longs = new long[] {1, -1, 1L << 62};
    m.flags = new boolean[] {true, false, true};
    m.words = new String[] {"alpha", "", "gr\u00fc\u00dfe"};
    m.grid = new int[][] {{1, 2}, {}, {3}};
    m.points = new Point[] {new Point(0, 0), new Point(10, -10)};
    m.text = "nul\u0000, \u00e9, \u20ac, \ud83d\ude00";
    m.missing = null;
    return m;
  }

  // Deep equality over public fields and arrays; doubles within 1e-9 relative.
  static boolean same(Object a, Object b, IdentityHashMap<Object, Object> seen) throws Exception {
    if (a == null || b == null) return a == b;
    if (a.getClass() != b.getClass()) return false;
    if (a instanceof String || a instanceof Number || a instanceof Boolean || a instanceof Character) {
      if (a instanceof Double) {
        double x = (Double) a, y = (Double) b;
        return x == y || Math.abs(x - y) <= 1e-9 * Math.max(1.0, Math.abs(y));
      }
      return a.equals(b);
    }
    if (seen.containsKey(a)) return seen.get(a) == b;
    seen.put(a, b);
    if (a.getClass().isArray()) {
      if (Array.getLength(a) != Array.getLength(b)) return false;
      for (int i = 0; i < Array.getLength(a); ++i)
        if (!same(Array.get(a, i), Array.get(b, i), seen)) return false;
      return true;
    }
    for (Field f : a.getClass().getDeclaredFields()) {
      if (Modifier.isStatic(f.getModifiers())) continue;
      if (!same(f.get(a), f.get(b), seen)) {
        System.out.println("field " + f.getName() + " differs");
        return false;
      }
    }
    return true;
  }

  // Identity checks that deep equality cannot see.
  static boolean shape(String name, Object o) {
    switch (name) {
      case "pair": {
        Pair p = (Pair) o;
        return p.first == p.second;
      }
      case "ring": {
        Node n = (Node) o;
        return n.next.next.next == n;
      }
      case "dlist": {
        DNode d = (DNode) o;
        return d.next.prev == d;
      }
      default:
        return true;
    }
  }

  static String show(Object o) throws Exception {
    StringBuilder s = new StringBuilder(o.getClass().getName()).append(" {");
    for (Field f : o.getClass().getDeclaredFields()) {
      if (Modifier.isStatic(f.getModifiers())) continue;
      Object v = f.get(o);
      String text = v == null ? "null" : v.getClass().isArray() ? v.getClass().getSimpleName()
          + " of " + Array.getLength(v) : v instanceof String ? "\"" + v + "\"" : v.toString();
      if (text.length() > 60) text = text.substring(0, 60) + "...";
      s.append(' ').append(f.getName()).append('=').append(text).append(';');
    }
    return s.append(" }").toString();
  }

  static Object read(String file) throws IOException, ClassNotFoundException {
    try (ObjectInputStream in = new ObjectInputStream(new FileInputStream(file))) {
      Object o = in.readObject();
      if (in.read() != -1) throw new IOException("bytes left over after the object");
      return o;
    }
  }

  static void write(Object o, String file) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(o);
    }
    Files.write(Paths.get(file), bytes.toByteArray());
  }

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "write":
        write(build(args[1]), args[2]);
        break;
      case "echo":
        write(read(args[1]), args[2]);
        break;
      case "check": {
        Object o = read(args[2]);
        System.out.println(show(o));
        boolean ok = same(o, build(args[1]), new IdentityHashMap<>()) && shape(args[1], o);
        System.out.println(ok ? "equal" : "NOT EQUAL");
        System.exit(ok ? 0 : 1);
      }
      default:
        System.err.println("usage: write|check <case> <file> | echo <in> <out>");
        System.exit(2);
    }
  }
}
