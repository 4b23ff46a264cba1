// examples::Point.
public class Point implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  public int x;
  public int y;

  public Point() {}

  public Point(int x, int y) {
    this.x = x;
    this.y = y;
  }
}
