// A singly linked node: a 3-node ring is a cycle.
public class Node implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  public int value;
  public Node next;
}
