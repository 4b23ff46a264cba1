// The chapter's Person, as nexo's examples::Person describes it.
public class Person implements java.io.Serializable {
  private static final long serialVersionUID = 1L;
  public String name;
  public String place;
  public int year;

  public Person() {}

  public Person(String name, String place, int year) {
    this.name = name;
    this.place = place;
    this.year = year;
  }
}
