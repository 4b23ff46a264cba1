// A doubly linked node: nexo holds prev as a std::weak_ptr (the back edge).
public class DNode implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  public int value;
  public DNode next;
  public DNode prev;
}
