// Every primitive type, arrays of several kinds and a text with non-ASCII characters.
public class Mixed implements java.io.Serializable {
  private static final long serialVersionUID = 7L;
  public byte b;
  public short s;
  public int i;
  public long l;
  public float f;
  public double d;
  public boolean z;
  public char c;
  public byte ub;
  public short us;
  public int ui;
  public long ul;
  public byte[] bytes;
  public short[] shorts;
  public long[] longs;
  public boolean[] flags;
  public String[] words;
  public int[][] grid;
  public Point[] points;
  public String text;
  public String missing;
}
