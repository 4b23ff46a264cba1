// examples::Large: scalars, a string, 1,000 doubles and 50 records.
public class Large implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  public int id;
  public long timestamp;
  public int flags;
  public float ratio;
  public double total;
  public boolean complete;
  public String description;
  public double[] samples;
  public Record[] records;
}
