// Two fields referring to one Point, and two fields referring to one String.
public class Pair implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  public Point first;
  public Point second;
  public String left;
  public String right;
}
