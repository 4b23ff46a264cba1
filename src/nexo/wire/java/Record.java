// One of the 50 nested records of Large (examples::Record).
public class Record implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  public int id;
  public double value;
  public String label;
  public boolean valid;
}
