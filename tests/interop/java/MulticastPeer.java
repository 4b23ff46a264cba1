// MulticastPeer — "Multicast peer joins a group and sends and receives
// datagrams", Coulouris, Dollimore, Kindberg & Blair, "Distributed Systems:
// Concepts and Design", chapter 4 (Figure 4.14), as the book has it.
// Usage: java MulticastPeer <message> <group, e.g. 228.5.6.7>   (port 6789)
// It receives 3 datagrams (its own looped-back one included), then leaves.
// Note the book's quirks, kept on purpose: the one 1000-byte buffer is reused,
// and the whole buffer is printed (trailing NULs, and leftovers of a longer
// earlier datagram after a shorter one).
import java.net.*;
import java.io.*;
public class MulticastPeer{
    public static void main(String args[]){
        // args give message contents & destination multicast group (e.g. "228.5.6.7")
        MulticastSocket s =null;
        try {
            InetAddress group = InetAddress.getByName(args[1]);
            s = new MulticastSocket(6789);
            s.joinGroup(group);
            byte [] m = args[0].getBytes();
            DatagramPacket messageOut = new DatagramPacket(m, m.length, group, 6789);
            s.send(messageOut);
            byte[] buffer = new byte[1000];
            for(int i=0; i< 3;i++) {        // get messages from others in group
                DatagramPacket messageIn = new DatagramPacket(buffer, buffer.length);
                s.receive(messageIn);
                System.out.println("Received:" + new String(messageIn.getData()));
            }
            s.leaveGroup(group);
        }catch (SocketException e){System.out.println("Socket: " + e.getMessage());
        }catch (IOException e){System.out.println("IO: " + e.getMessage());
        }finally {if(s != null) s.close();}
    }
}
